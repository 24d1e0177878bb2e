"""All console routers, mounted by chat_server."""

from fastapi import APIRouter

from agent_console.auth.routes import router as auth_router

router = APIRouter()
router.include_router(auth_router)
