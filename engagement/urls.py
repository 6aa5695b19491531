"""URLs of the engagement app: the API (mounted twice by the project) and the try page."""
from django.urls import path, re_path

from . import apis, views

app_name = "engagement"

api_urlpatterns = [
    re_path(r"^analyze-mood/?$", apis.AnalyzeMoodApi.as_view(), name="analyze-mood"),
    re_path(r"^batch-analyze-mood/?$", apis.BatchAnalyzeMoodApi.as_view(), name="batch-analyze-mood"),
    re_path(r"^verify-faces/?$", apis.VerifyFacesApi.as_view(), name="verify-faces"),
]

page_urlpatterns = [
    path("try/", views.try_page, name="try"),
]
