"""API tokens for tests: one per account, issued on first use and remembered (the database keeps only a hash)."""
_issued: dict[tuple, str] = {}


def token_for(user) -> str:
    """The account's API token, issued the first time it is asked for (then no database access: async-safe)."""
    from monitor.services import api_token_issue

    key = (user.pk, user.date_joined)
    if key not in _issued:
        _issued[key] = api_token_issue(user=user)
    return _issued[key]
