"""API pagination: pages of 50 by default; clients may ask for up to 500 with ?page_size=."""
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Page-number pagination with a client-chosen page size."""

    page_size_query_param = "page_size"
    max_page_size = 500
