"""All console routers, mounted by chat_server."""

from fastapi import APIRouter

from agent_console.admin.canned_routes import router as canned_admin_router
from agent_console.admin.history_routes import router as history_admin_router
from agent_console.admin.org_routes import router as org_admin_router
from agent_console.admin.routes import router as admin_router
from agent_console.admin.settings_routes import router as settings_admin_router
from agent_console.auth.routes import router as auth_router
from agent_console.dashboards.routes import router as dashboards_router
from agent_console.people.routes import router as people_router
from agent_console.sms_log.routes import api_router as sms_api_router
from agent_console.sms_log.routes import router as sms_log_router
from agent_console.staffing.routes import router as staffing_router
from agent_console.surveys.routes import router as surveys_router
from agent_console.texts.routes import router as texts_router
from agent_console.triage.routes import router as triage_router
from agent_console.wallboard.routes import router as wallboard_router
from agent_console.workspace.routes import router as workspace_router

router = APIRouter()
router.include_router(auth_router)
router.include_router(workspace_router)
router.include_router(triage_router)
router.include_router(texts_router)  # inbound texts to match
router.include_router(wallboard_router)
router.include_router(people_router)
router.include_router(admin_router)
router.include_router(org_admin_router)  # issue #15: teams and PODs
router.include_router(settings_admin_router)  # issue #15: settings and text-message wording
router.include_router(history_admin_router)  # issue #15: every version of what admins change
router.include_router(canned_admin_router)  # issue #15: the canned answer library
router.include_router(staffing_router)
router.include_router(dashboards_router)  # performance dashboards (supervisors+)
router.include_router(surveys_router)  # manager results and exports
router.include_router(sms_log_router)  # admin SMS log
router.include_router(sms_api_router)  # its JSON twin under /api (documented)
