"""Login throttling on both login forms: repeated failures lock a username (from one address) and an address."""
import time

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def lea():
    return get_user_model().objects.create_user("lea", password="lea-password")


def login(client, path, username, password, address):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client):
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_repeated_failures_lock_the_username_from_that_address(client, lea, settings, path):
    settings.LOGIN_THROTTLE = {"PER_USER": 3, "PER_ADDRESS": 100, "SECONDS": 1}
    if path.startswith("/admin"):
        lea.is_staff = True
        lea.save()
    address = f"10.0.0.{1 if path.startswith('/accounts') else 2}"
    for _ in range(3):
        assert not logged_in(client) and login(client, path, "lea", "wrong", address).status_code == 200
    refused = login(client, path, "LEA", "lea-password", address)  # the right password, during the lockout
    assert "Too many failed logins" in refused.content.decode() and not logged_in(client)
    assert login(client, path, "lea", "lea-password", "10.9.9.9").status_code == 302  # from elsewhere: fine
    client.logout()
    time.sleep(1.1)  # the lockout ends
    assert login(client, path, "lea", "lea-password", address).status_code == 302 and logged_in(client)


def test_an_address_that_tries_many_usernames_is_slowed_down_not_locked(client, lea, settings):
    """Low 15: fifty failures with random names behind a campus NAT must not lock every instructor out."""
    settings.LOGIN_THROTTLE = {"PER_USER": 100, "PER_ADDRESS": 4, "SECONDS": 60, "ADDRESS_SLOW_SECONDS": 1}
    for name in ("ann", "bob", "cyd", "dan"):
        login(client, "/accounts/login/", name, "guess", "10.0.1.1")
    # Past the address's limit one attempt in each second goes through: this one, with the right password.
    assert login(client, "/accounts/login/", "lea", "lea-password", "10.0.1.1").status_code == 302
    client.logout()
    login(client, "/accounts/login/", "eve", "guess", "10.0.1.1")
    refused = login(client, "/accounts/login/", "lea", "lea-password", "10.0.1.1")  # within the same second
    assert "wait 1 seconds" in refused.content.decode() and not logged_in(client)
    time.sleep(1.1)
    assert login(client, "/accounts/login/", "lea", "lea-password", "10.0.1.1").status_code == 302


def test_a_successful_login_clears_the_usernames_failures(client, lea, settings):
    settings.LOGIN_THROTTLE = {"PER_USER": 3, "PER_ADDRESS": 100, "SECONDS": 60}
    for _ in range(2):
        login(client, "/accounts/login/", "lea", "wrong", "10.0.2.1")
    assert login(client, "/accounts/login/", "lea", "lea-password", "10.0.2.1").status_code == 302
    client.logout()
    for _ in range(2):
        login(client, "/accounts/login/", "lea", "wrong", "10.0.2.1")
    assert login(client, "/accounts/login/", "lea", "lea-password", "10.0.2.1").status_code == 302
