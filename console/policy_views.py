"""Policy administration: queues (members, SLA, lease) and categories (blurring)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from console.access import require
from console.policy_forms import CategoryForm, QueueForm
from console.roles import Cap
from review.models import Category, Queue
from review.services.admin import update_category, update_queue


@require(Cap.MANAGE_POLICY)
def queues(request: HttpRequest) -> HttpResponse:
    rows = Queue.objects.prefetch_related("members").order_by("-priority", "name")
    return render(request, "console/policy_queues.html", {"queues": rows})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, pk: int) -> HttpResponse:
    queue = get_object_or_404(Queue, pk=pk)
    initial = {"name": queue.name, "description": queue.description, "priority": queue.priority,
               "sla_minutes": queue.sla_minutes, "lease_minutes": queue.lease_minutes,
               "members": list(queue.members.all())}
    form = QueueForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        update_queue(actor=request.user, queue=queue, **form.cleaned_data)
        messages.success(request, f"Queue {queue.name} saved.")
        return redirect("console:policy_queues")
    return render(request, "console/policy_form.html", {"form": form, "title": f"Queue: {queue.name}"})


@require(Cap.MANAGE_POLICY)
def categories(request: HttpRequest) -> HttpResponse:
    return render(request, "console/policy_categories.html", {"categories": Category.objects.all()})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def category_edit(request: HttpRequest, slug: str) -> HttpResponse:
    category = get_object_or_404(Category, slug=slug)
    form = CategoryForm(request.POST if request.method == "POST" else None,
                        initial={"description": category.description, "sensitive": category.sensitive})
    if request.method == "POST" and form.is_valid():
        update_category(actor=request.user, category=category, **form.cleaned_data)
        messages.success(request, f"Category {category.name} saved.")
        return redirect("console:policy_categories")
    return render(request, "console/policy_form.html", {"form": form, "title": f"Category: {category.name}"})
