"""The admin home with a small dashboard above Django's app list (issue 16, Staff).

Mounted at /admin/ before ``admin.site.urls`` (jewelry_site/urls.py), the same way the admin's sign-in
is; ``admin_view`` keeps the admin's own checks (active staff, never cached). Each part is shown only
to staff whose permissions cover it: order figures need ``orders.view_order``, low stock
``catalog.view_productvariant``.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from orders.selectors import low_stock, order_figures


def _index(request: HttpRequest) -> HttpResponse:
    """Django's admin index, plus what needs doing today."""
    user = request.user
    dashboard = {}
    if user.has_perm("orders.view_order"):
        dashboard["orders"] = order_figures()
    if user.has_perm("catalog.view_productvariant"):
        dashboard["low_stock"] = low_stock()
        dashboard["can_adjust"] = user.has_perm("catalog.change_productvariant")
    return admin.site.index(request, extra_context={"dashboard": dashboard})


admin_index = admin.site.admin_view(_index)
