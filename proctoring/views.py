"""Project-level pages: the home page."""
from django.shortcuts import render


def home(request):
    """Links to the try page, the admin and the API."""
    return render(request, "home.html")
