from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.status import status_view
from console import (
    calibration_views,
    export_views,
    policy_views,
    retention_views,
    staff_views,
    twofactor_views,
    views,
)
from console.api import api

app_name = "console"

console_patterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password_change_done",
    ),
    path("settings/", views.staff_settings, name="settings"),
    # Staff accounts: the code step, one's own second factor and sessions, staff admins' pages.
    path("login/code/", views.login_code, name="login_code"),
    path("settings/two-factor/", twofactor_views.two_factor, name="two_factor"),
    path("settings/two-factor/recovery-codes/", twofactor_views.renew_recovery_codes, name="two_factor_renew"),
    path("settings/two-factor/off/", twofactor_views.disable_two_factor, name="two_factor_disable"),
    path("settings/sign-out-everywhere/", views.sign_out_everywhere, name="sign_out_everywhere"),
    path("staff/", staff_views.staff_list, name="staff"),
    path("staff/<int:pk>/", staff_views.staff_member, name="staff_member"),
    path("staff/<int:pk>/reset-two-factor/", staff_views.staff_reset_two_factor, name="staff_reset_two_factor"),
    path("staff/<int:pk>/sign-out/", staff_views.staff_sign_out, name="staff_sign_out"),
    path("staff/<int:pk>/unlock/", staff_views.staff_unlock, name="staff_unlock"),
    path("audit/", views.audit_log, name="audit"),
    path("policy/queues/", policy_views.queues, name="policy_queues"),
    path("policy/queues/<int:pk>/", policy_views.queue_edit, name="policy_queue"),
    path("policy/categories/", policy_views.categories, name="policy_categories"),
    path("policy/categories/<slug:slug>/", policy_views.category_edit, name="policy_category"),
    # Profiles, mappings and routing: versioned policy documents (console/policy_views.py).
    path("policy/queues/new/", policy_views.queue_new, name="policy_queue_new"),
    path("policy/profiles/", policy_views.profiles, name="policy_profiles"),
    path("policy/profiles/new/", policy_views.profile_new, name="policy_profile_new"),
    path("policy/profiles/<int:pk>/", policy_views.profile_edit, name="policy_profile"),
    path("policy/profiles/<int:pk>/history/", policy_views.profile_history, name="policy_profile_history"),
    path("policy/profiles/<int:pk>/versions/<int:version>/restore/", policy_views.profile_restore,
         name="policy_profile_restore"),
    path("policy/integrations/<int:pk>/profile/", policy_views.integration_profile,
         name="policy_integration_profile"),
    path("policy/mappings/", policy_views.mappings, name="policy_mappings"),
    path("policy/mappings/<slug:source>/", policy_views.mapping_edit, name="policy_mapping"),
    path("policy/mappings/<slug:source>/history/", policy_views.mapping_history, name="policy_mapping_history"),
    path("policy/mappings/<slug:source>/versions/<int:version>/restore/", policy_views.mapping_restore,
         name="policy_mapping_restore"),
    path("policy/routing/", policy_views.routing, name="policy_routing"),
    path("policy/routing/order/", policy_views.routing_order, name="policy_routing_order"),
    path("policy/routing/new/", policy_views.routing_rule_new, name="policy_routing_rule_new"),
    path("policy/routing/<int:pk>/", policy_views.routing_rule_edit, name="policy_routing_rule"),
    path("policy/routing/history/", policy_views.routing_history, name="policy_routing_history"),
    path("policy/routing/versions/<int:version>/restore/", policy_views.routing_restore,
         name="policy_routing_restore"),
    # Calibration and retention
    path("policy/calibration/", calibration_views.calibration, name="policy_calibration"),
    path("policy/calibration/what-if/", calibration_views.whatif, name="policy_whatif"),
    path("policy/calibration/profiles/<int:pk>/", calibration_views.calibration_rate, name="policy_calibration_rate"),
    path("policy/retention/", retention_views.retention, name="policy_retention"),
    path("policy/retention/<int:pk>/", retention_views.retention_edit, name="policy_retention_edit"),
    # Exports and scheduled reports (console/export_views.py).
    path("exports/", export_views.exports, name="exports"),
    path("exports/run/<slug:name>/", export_views.export_run, name="export_run"),
    path("exports/<int:pk>/progress/", export_views.export_progress, name="export_progress"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export_download"),
    path("exports/subscribe/<slug:name>/", export_views.subscription_new, name="subscription_new"),
    path("exports/subscriptions/<int:pk>/delete/", export_views.subscription_delete, name="subscription_delete"),
]

urlpatterns = [
    # The status endpoint is on the platform's hot path: a plain view, ahead of the API router.
    path("api/v1/accounts/<str:user>/status", status_view),
    path("api/v1/", api.urls),
    path("", include((console_patterns, "console"))),
    path("", include("review.urls")),
    path("", include("accounts.urls")),
]

# Under /api/ these answer JSON, elsewhere Django's own pages; a database outage is a 503 everywhere.
handler400 = "console.errors.bad_request"
handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
