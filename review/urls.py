from __future__ import annotations

from django.urls import path

from review import views

app_name = "review"

urlpatterns = [
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/new/", views.integration_new, name="integration_new"),
    path("integrations/<int:pk>/", views.integration, name="integration"),
    path("integrations/<int:pk>/edit/", views.integration_edit, name="integration_edit"),
    path("integrations/<int:pk>/keys/", views.key_new, name="key_new"),
    path("integrations/<int:pk>/keys/<int:key_pk>/revoke/", views.key_revoke, name="key_revoke"),
]
