from django.urls import path

from hub.views import auth, home

app_name = "hub"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth.login_view, name="login"),
    path("login/otp/", auth.login_otp_view, name="login_otp"),
    path("logout/", auth.logout_view, name="logout"),
    path("agency/switch/", home.switch_agency, name="switch_agency"),
]
