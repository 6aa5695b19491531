"""URLs of the engagement app: the API (mounted twice by the project) and the try page."""
from django.urls import path, re_path

from . import rest, views

app_name = "engagement"

api_urlpatterns = [
    re_path(r"^analyze-mood/?$", rest.AnalyzeMoodApi.as_view(), name="analyze-mood"),
    re_path(r"^batch-analyze-mood/?$", rest.BatchAnalyzeMoodApi.as_view(), name="batch-analyze-mood"),
    re_path(r"^verify-faces/?$", rest.VerifyFacesApi.as_view(), name="verify-faces"),
]

page_urlpatterns = [
    path("try/", views.try_page, name="try"),
]
