"""Project URLs: the seed-compatible API at the root and under /api/v1/engagement/, pages, admin."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from engagement.urls import api_urlpatterns, page_urlpatterns
from monitor.urls import api_urlpatterns as monitor_api

from . import views
from .login_throttle import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm

admin.site.login_form = ThrottledAdminAuthenticationForm
# The app list beside every page would leave too little width for the review lists' columns at 1280 px.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The prototype's paths, kept for existing clients.
    path("", include((api_urlpatterns, "engagement-seed"))),
    path("api/v1/engagement/", include((api_urlpatterns, "engagement-api"))),
    path("engagement/", include((page_urlpatterns, "engagement"))),
    path("api/v1/", include((monitor_api, "monitor-api"))),
    path("monitor/", include("monitor.urls")),
    path("lti/", include("lti.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

handler403 = "proctoring.views.forbidden"
handler404 = "proctoring.views.not_found"
handler500 = "proctoring.views.server_error"
