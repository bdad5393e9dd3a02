from __future__ import annotations

from django.urls import path

from review import review_views, views

app_name = "review"

urlpatterns = [
    path("queues/", review_views.queues, name="queues"),
    path("queues/<int:queue_pk>/start/", review_views.start, name="start"),
    path("cases/", review_views.cases, name="cases"),
    path("cases/bulk/", review_views.bulk_decide, name="bulk_decide"),
    path("cases/<int:pk>/", review_views.case_page, name="case"),
    path("cases/<int:pk>/decide/", review_views.decide, name="decide"),
    path("cases/<int:pk>/skip/", review_views.skip, name="skip"),
    path("cases/<int:pk>/release/", review_views.release, name="release"),
    path("cases/<int:pk>/renew/", review_views.renew, name="renew"),
    path("cases/<int:pk>/take-back/", review_views.take_back, name="take_back"),
    path("decisions/<int:pk>/correct/", review_views.correct, name="correct"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/new/", views.integration_new, name="integration_new"),
    path("integrations/<int:pk>/", views.integration, name="integration"),
    path("integrations/<int:pk>/edit/", views.integration_edit, name="integration_edit"),
    path("integrations/<int:pk>/keys/", views.key_new, name="key_new"),
    path("integrations/<int:pk>/keys/<int:key_pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("integrations/<int:pk>/keys/<int:key_pk>/rate/", views.key_rate, name="key_rate"),
]
