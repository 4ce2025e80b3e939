from django.urls import path

from hub.views import agency_admin, agency_settings, audit_log, auth, home, invitations, operator

app_name = "hub"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth.login_view, name="login"),
    path("login/otp/", auth.login_otp_view, name="login_otp"),
    path("logout/", auth.logout_view, name="logout"),
    path("agency/switch/", home.switch_agency, name="switch_agency"),
    # Accepting an invitation: public, the token is the credential.
    path("invite/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
    # Agency admin
    path("agency/users/", agency_admin.agency_users, name="agency_users"),
    path("agency/users/invite/", agency_admin.agency_invite, name="agency_invite"),
    path(
        "agency/users/<uuid:membership>/role/",
        agency_admin.membership_role,
        name="membership_role",
    ),
    path(
        "agency/users/<uuid:membership>/deactivate/",
        agency_admin.membership_deactivate,
        name="membership_deactivate",
    ),
    path(
        "agency/users/<uuid:membership>/reactivate/",
        agency_admin.membership_reactivate,
        name="membership_reactivate",
    ),
    path(
        "agency/users/<uuid:membership>/reset-2fa/",
        agency_admin.membership_reset_2fa,
        name="membership_reset_2fa",
    ),
    path(
        "agency/users/<uuid:membership>/unlock/",
        agency_admin.membership_unlock,
        name="membership_unlock",
    ),
    path(
        "agency/invitations/<uuid:invitation>/revoke/",
        agency_admin.invitation_revoke,
        name="invitation_revoke",
    ),
    path("agency/settings/", agency_settings.agency_settings, name="agency_settings"),
    path("agency/audit/", audit_log.audit_log, name="audit_log"),
    path("agency/audit/export.csv", audit_log.audit_export, name="audit_export"),
    # Hub operator
    path("operator/agencies/", operator.operator_agencies, name="operator_agencies"),
    path("operator/agencies/new/", operator.operator_agency_create, name="operator_agency_create"),
    path(
        "operator/agencies/<uuid:agency>/invite/",
        operator.operator_agency_invite,
        name="operator_agency_invite",
    ),
    path(
        "operator/agencies/<uuid:agency>/suspend/",
        operator.operator_agency_suspend,
        name="operator_agency_suspend",
    ),
    path(
        "operator/agencies/<uuid:agency>/reactivate/",
        operator.operator_agency_reactivate,
        name="operator_agency_reactivate",
    ),
]
