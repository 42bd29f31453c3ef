"""What every service-backed admin shares: a form whose save is one service call, and saving and deleting
through the services (the bulk delete action too); and the base of the read-only admins."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from ..errors import Conflict, InvalidInput
from .config_editor import ConfigEditorField, submitted_config, typed_secrets
from .destination_pages import choose_type
from .display import connector_or_none, type_label, workspace_label

TYPE_PARAM = "destination_type"  # the add page's type, chosen first
NEW_TYPE_PARAM = "new_type"  # the change page with a type change under way


class ServiceConfigForm(forms.ModelForm):
    """A model form for something with a type's config, saved by ONE service call once the form is valid.

    The model admin makes a subclass per request naming `destination_type` (and `retype` when the type is
    being changed). The call runs in `_post_clean`, inside the admin's transaction, so what the service
    refuses (`config.<field>` paths and the rest) lands on the form's fields; `save()` returns the saved row.
    Subclasses set `config_field`, `error_prefix`, `error_fields` and implement `stored_config` and `service_call`.
    """

    config_field = "config"
    config_label = "Config"
    config_help = ""
    error_prefix = "config"
    error_fields: dict[str, str] = {}
    destination_type = ""
    retype = False
    actor = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connector_cls = connector_or_none(self.destination_type)
        adding = self.instance._state.adding
        self.stored = {} if adding or self.retype else self.stored_config()
        self.fields[self.config_field] = ConfigEditorField(
            label=self.config_label, connector_cls=self.connector_cls, stored=self.stored, help_text=self.config_help
        )
        if "workspace" in self.fields:
            self.fields["workspace"].label_from_instance = workspace_label
        if not self.is_bound:
            self.initial[self.config_field] = self.stored
        self.saved = None

    def stored_config(self) -> dict:
        raise NotImplementedError

    def service_call(self, cleaned: dict, config: dict):
        raise NotImplementedError

    def submitted(self) -> dict:
        """What the editor sent, in the services' terms (blank secret: keep the stored one)."""
        return submitted_config(self.connector_cls, self.cleaned_data.get(self.config_field) or {}, self.stored)

    def _post_clean(self):
        super()._post_clean()
        if not self._errors:
            if self.connector_cls is None:
                self.add_error(None, f"Unknown destination type {self.destination_type!r}.")
            else:
                try:
                    self.saved = self.service_call(self.cleaned_data, self.submitted())
                except InvalidInput as exc:
                    self.add_service_errors(exc.errors)
                except Conflict as exc:
                    self.add_error(None, exc.detail)
        if self._errors and self.is_bound:
            self._name_secrets_to_retype()

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        self.fields[self.config_field].widget.set_errors(errors, self.error_prefix)
        for error_path, messages_ in errors.items():
            self.add_error(self._field_for(error_path), [f"{error_path}: {m}" for m in messages_])

    def _field_for(self, error_path: str) -> str | None:
        if error_path == self.error_prefix or error_path.startswith(self.error_prefix + "."):
            return self.config_field
        field = self.error_fields.get(error_path)
        return field if field in self.fields else None

    def _name_secrets_to_retype(self) -> None:
        """The page shows secrets blank, so one just typed into a refused form is gone: say which to type again."""
        if self.connector_cls is None:
            return
        try:
            sent = self.fields[self.config_field].to_python(self.data.get(self.add_prefix(self.config_field)))
        except forms.ValidationError:
            return
        paths = typed_secrets(self.connector_cls, sent)
        if paths:
            self._errors.setdefault(self.config_field, self.error_class()).append(
                "Secret values are never shown again; type them again: " + ", ".join(paths) + "."
            )

    def save(self, commit=True):
        return self.saved

    def save_m2m(self):
        """Nothing more to save: the service call saved everything."""


class ServiceSaveMixin:
    """save_model/delete through the services; the bulk delete action too."""

    delete_protected_hint = ""

    def service_delete(self, request, obj) -> None:
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The form for this request's type; its validation ends with the one service call, as `request.user`."""
        form = super().get_form(request, obj, change=change, **kwargs)
        destination_type, retype = self.form_type(request, obj)
        attrs = {"destination_type": destination_type, "retype": retype, "actor": request.user}
        return type(form.__name__, (form,), attrs)

    def form_type(self, request, obj) -> tuple[str, bool]:
        """(type, changing type?): the stored type, or on the add page the one chosen first."""
        if obj is None:
            return request.GET.get(TYPE_PARAM, ""), False
        return obj.destination_type, False

    def add_view(self, request, form_url="", extra_context=None):
        """The type is chosen first (its own page); then the add form shows that type's settings."""
        if connector_or_none(request.GET.get(TYPE_PARAM, "")) is None:
            return choose_type(request, self)
        context = {**(extra_context or {}), "chosen_type": type_label(request.GET[TYPE_PARAM])}
        return super().add_view(request, form_url, context)

    def save_model(self, request, obj, form, change):
        """Saved already: by the service call that ended the form's validation (`obj` is that row)."""

    def delete_model(self, request, obj):
        try:
            self.service_delete(request, obj)
        except Conflict as exc:  # something started using it since the confirmation page
            request._service_delete_refused = exc.detail

    def response_delete(self, request, obj_display, obj_id):
        refused = getattr(request, "_service_delete_refused", None)
        if refused:
            self.message_user(request, refused, messages.ERROR)
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj_id])
            )
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request, queryset):
        self._delete_each(request, queryset)

    @admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
    def delete_selected(self, request, queryset):
        """Django's confirmation page; once confirmed, each object is deleted through the service."""
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        deleted, refused = self._delete_each(request, queryset)
        if deleted:
            self.message_user(request, f"Deleted {deleted} {model_ngettext(self.opts, deleted)}.", messages.SUCCESS)
        for detail in refused:
            self.message_user(request, detail, messages.ERROR)
        return None

    def _delete_each(self, request, queryset) -> tuple[int, list[str]]:
        deleted, refused = 0, []
        for obj in list(queryset):
            name = str(obj)
            try:
                with transaction.atomic():
                    self.log_deletions(request, [obj])
                    self.service_delete(request, obj)
                deleted += 1
            except Conflict as exc:
                refused.append(f"{name}: {exc.detail}")
        return deleted, refused


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
