"""All console routers, mounted by chat_server."""

from fastapi import APIRouter

from agent_console.auth.routes import router as auth_router
from agent_console.workspace.routes import router as workspace_router

router = APIRouter()
router.include_router(auth_router)
router.include_router(workspace_router)
