"""URLs of the engagement app: `include("engagement.urls")` mounts the API and the try page (this project mounts
the API twice, from api_urlpatterns, and the page from page_urlpatterns)."""
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

urlpatterns = [*api_urlpatterns, *page_urlpatterns]
