"""Shared fixtures: users, tokens, API clients and the real engine."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def user(db):
    """A learner with a password."""
    return get_user_model().objects.create_user("alice", password="alice-password")


@pytest.fixture
def api(user):
    """An API client authenticated by DRF token, as an LMS would be."""
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous_api():
    """An API client with no credentials."""
    return APIClient()


@pytest.fixture
def fresh_engine():
    """Reload the engine from the current settings, and again afterwards for the other tests."""
    from engagement.engines import reset_engine

    reset_engine()
    yield
    reset_engine()
