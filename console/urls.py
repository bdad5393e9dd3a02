from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.status import status_view
from console import policy_views, staff_views, twofactor_views, views
from console.api import api

app_name = "console"

console_patterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
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
]

urlpatterns = [
    # The status endpoint is on the platform's hot path: a plain view, ahead of the API router.
    path("api/v1/accounts/<str:user>/status", status_view),
    path("api/v1/", api.urls),
    path("", include((console_patterns, "console"))),
    path("", include("review.urls")),
    path("", include("accounts.urls")),
]
