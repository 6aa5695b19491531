"""Webhooks and their deliveries in the admin."""
from django.contrib import admin

from engagement.admin import DateSafeChangeList

from ..models import Webhook, WebhookDelivery
from .forms import WebhookAdminForm



class DeliveryInline(admin.TabularInline):
    """The latest deliveries of a webhook."""

    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("created_at", "event", "status", "attempts", "response_status", "last_error", "next_attempt_at",
              "delivered_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """LMS endpoints and what was sent to them."""

    form = WebhookAdminForm

    list_display = ("url", "owner", "events", "active", "created_at")
    list_filter = ("active",)
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(DateSafeChangeList, admin.ModelAdmin):
    """Every delivery with its status, attempts and last error; read-only."""

    list_display = ("created_at", "event", "webhook", "status", "attempts", "response_status", "delivered_at")
    list_filter = ("status", "event")
    readonly_fields = ("webhook", "event", "payload", "status", "attempts", "last_error", "response_status",
                       "created_at", "next_attempt_at", "delivered_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
