"""All console routers, mounted by chat_server."""

from fastapi import APIRouter

from agent_console.auth.routes import router as auth_router
from agent_console.sms_log.routes import router as sms_log_router
from agent_console.surveys.routes import router as surveys_router

router = APIRouter()
router.include_router(auth_router)
router.include_router(surveys_router)  # SMS/surveys area: manager results and exports
router.include_router(sms_log_router)  # SMS/surveys area: admin SMS log
