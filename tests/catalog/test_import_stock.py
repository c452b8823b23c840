"""Issue 20: the CSV import records stock, never sets it, and cannot deadlock with a checkout.

A sheet exported before a sale and imported after it says the old count: the difference is recorded as
a recount against the stock under the import's row lock (who, before, after) and the report lists it.
"""

import threading
from decimal import Decimal
from io import BytesIO, StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.utils import OperationalError

from catalog.admin import VariantAdminForm, stock_changes_check
from catalog.models import Product, ProductVariant, StockAdjustment, StockReason
from catalog.services.product_import import product_import_csv
from catalog.services.stock import variant_stock_adjust
from loopback import wait_until
from tests.factories import ProductFactory, ProductVariantFactory, StaffUserFactory
from tests.orders.conftest import cart_with, place
from tests.threads import run_together

HEADER = "sku,product_slug,metal,price,stock"


def sheet(*rows: str) -> BytesIO:
    return BytesIO(("\r\n".join([HEADER, *rows]) + "\r\n").encode())


def _row(variant: ProductVariant, stock: int) -> str:
    return f"{variant.sku},{variant.product.slug},{variant.metal},{variant.price},{stock}"


@pytest.mark.django_db
def test_a_piece_sold_after_the_export_is_recorded_as_a_recount_with_who_before_and_after():
    ring = ProductVariantFactory(stock=2, price=Decimal("100.00"))
    exported = _row(ring, 2)  # the sheet is exported with 2 in stock
    place(cart_with((ring, 1)))  # then a shopper buys one: 1 left
    editor = StaffUserFactory(username="importer")

    result = product_import_csv(file=sheet(exported), actor=editor)

    assert result.ok
    ring.refresh_from_db()
    assert ring.stock == 2  # what the sheet says, as the issue asks, but now on the record:
    adjustment = StockAdjustment.objects.get(variant=ring)
    assert (adjustment.stock_before, adjustment.stock_after, adjustment.change) == (1, 2, 1)
    assert (adjustment.reason, adjustment.note, adjustment.actor) == (
        StockReason.RECOUNT,
        "recount from import",
        editor,
    )
    assert result.stock_changes == [f"{ring.sku}: 1 → 2 (+1)"]
    assert (result.variants_updated, result.variants_unchanged) == (1, 0)


@pytest.mark.django_db
def test_the_command_reports_each_stock_change_and_a_new_variants_opening_stock(tmp_path):
    ring = ProductVariantFactory(stock=5, price=Decimal("100.00"))
    path = tmp_path / "sheet.csv"
    new_row = f"NEW-1,{ring.product.slug},{ring.metal},90.00,4"
    path.write_bytes(sheet(_row(ring, 3), new_row).getvalue())
    out = StringIO()

    call_command("import_products", str(path), stdout=out)

    assert f"Stock: 2 change(s) recorded in the stock history: {ring.sku}: 5 → 3 (-2); NEW-1: 0 → 4 (+4)." in (
        out.getvalue()
    )
    opening = StockAdjustment.objects.get(variant__sku="NEW-1")
    assert (opening.reason, opening.stock_before, opening.stock_after, opening.actor) == ("opening", 0, 4, None)
    assert StockAdjustment.objects.get(variant=ring).change == -2


@pytest.mark.django_db
def test_an_unchanged_count_records_nothing_and_a_dry_run_only_reports():
    ring = ProductVariantFactory(stock=5, price=Decimal("100.00"))
    assert product_import_csv(file=sheet(_row(ring, 5))).stock_changes == []
    dry = product_import_csv(file=sheet(_row(ring, 7)), dry_run=True)
    assert dry.stock_changes == [f"{ring.sku}: 5 → 7 (+2)"]
    assert not StockAdjustment.objects.exists()
    ring.refresh_from_db()
    assert ring.stock == 5


# --- Lock order -----------------------------------------------------------------------------------------
def _reverse_order_locker(a: ProductVariant, b: ProductVariant):
    """Control: what the import did before (its variants in whatever order the database returned them,
    here B before A), made certain by locking in reverse pk order."""

    def lock():
        with transaction.atomic():
            list(ProductVariant.objects.select_for_update().filter(pk__in=[a.pk, b.pk]).order_by("-pk"))
        return "locked"

    return lock


def _lock_waiters(*, fresh: bool = False) -> int:
    with connection.cursor() as cursor:
        if fresh:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _in_thread(call, results: dict, name: str) -> threading.Thread:
    def run():
        try:
            results[name] = call()
        except BaseException as error:  # asserted by the test
            results[name] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["import", "reverse-order locker (control)"])
def test_an_import_and_a_checkout_locking_the_same_variants_both_complete(second):
    """The checkout (order_place, locking A then B) waits for A behind a third holder; the import comes
    next. Locking in pk order it waits for A holding nothing; locking B first (the old import, and the
    control) it holds B while the checkout, once A is free, holds A and wants B: a deadlock, which
    Postgres breaks by failing one of them."""
    # Two products' variants: A (lower pk) is its product's second, B its product's first. Without an
    # ORDER BY pk the import's lock query sorted by the model's ordering (position, pk): B before A.
    a = ProductVariantFactory(product=ProductFactory(), price=Decimal("100.00"), stock=5, position=1)
    b = ProductVariantFactory(product=ProductFactory(), price=Decimal("100.00"), stock=5, position=0)
    cart = cart_with((a, 1), (b, 1))
    results: dict = {}
    release = threading.Event()

    def holder():
        with transaction.atomic():
            ProductVariant.objects.select_for_update().get(pk=a.pk)
            results["holding"] = True
            assert release.wait(timeout=60), "never released"
        return "released"

    calls = {
        "import": lambda: product_import_csv(file=sheet(_row(a, 8), _row(b, 8))).ok,
        "reverse-order locker (control)": _reverse_order_locker(a, b),
    }
    threads = [_in_thread(holder, results, "holder")]
    wait_until(lambda: results.get("holding", False), timeout=30, what="the holder's lock on A")
    threads.append(_in_thread(lambda: place(cart).number, results, "checkout"))
    wait_until(lambda: _lock_waiters() == 1, timeout=30, what="the checkout waiting for A")
    threads.append(_in_thread(calls[second], results, second))
    wait_until(lambda: _lock_waiters() == 2, timeout=30, what="the second party waiting for a lock")
    release.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "hung"

    failures = [r for r in (results["checkout"], results[second]) if isinstance(r, BaseException)]
    if second == "import":
        assert failures == []
        assert results["import"] is True
        assert ProductVariant.objects.get(pk=a.pk).stock == 8  # recounted after the sale, under the lock
        assert list(StockAdjustment.objects.filter(variant=a).values_list("stock_before", "stock_after")) == [(4, 8)]
    else:
        assert len(failures) == 1
        assert isinstance(failures[0], OperationalError)
        assert "deadlock detected" in str(failures[0])


def _old_lock_order(variant: ProductVariant):
    """Control: the import's locks before the fix (its variants, then its products), without the rest of
    the import; the test was also run against the old import itself and failed the same way."""

    def lock():
        with transaction.atomic():
            list(ProductVariant.objects.select_for_update(of=("self",)).filter(pk=variant.pk).order_by("pk"))
            list(Product.objects.select_for_update().filter(pk=variant.product_id).order_by("pk"))
        return "locked"

    return lock


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["import", "old lock order (control)"])
def test_an_import_and_a_staff_product_edit_of_the_same_product_both_complete(second):
    """The admin's product page writes the product row, then its variant rows, in one transaction. The
    staff edit has written the product when the import starts; once the import waits for a lock, the
    edit writes the variant. Locking products first the import waits holding nothing; locking the
    variant first (the old import, and the control) it holds the variant the edit now wants: a deadlock,
    which Postgres breaks by failing one of them."""
    ring = ProductVariantFactory(price=Decimal("100.00"), stock=5, low_stock_threshold=2)
    product_written = threading.Event()

    def staff_edit():
        with transaction.atomic():
            product = Product.objects.get(pk=ring.product_id)
            product.name = "Renamed by staff"
            product.save()
            product_written.set()
            # Asked inside this transaction: pg_stat_activity would answer from its first read's snapshot.
            wait_until(lambda: _lock_waiters(fresh=True) == 1, timeout=30, what="the import waiting for a lock")
            variant = ProductVariant.objects.get(pk=ring.pk)
            variant.low_stock_threshold = 1
            variant.save(update_fields=["low_stock_threshold"])
        return "saved"

    def after_the_product_is_written(call):
        def run():
            assert product_written.wait(timeout=30), "the staff edit never wrote the product"
            return call()

        return run

    calls = {
        "import": lambda: product_import_csv(file=sheet(_row(ring, 8))).ok,
        "old lock order (control)": _old_lock_order(ring),
    }
    edit, other = run_together(
        [staff_edit, after_the_product_is_written(calls[second])], what="the staff edit and the import"
    )

    failures = [r for r in (edit, other) if isinstance(r, BaseException)]
    if second == "import":
        assert failures == [], (edit, other)
        assert (edit, other) == ("saved", True)
        ring.refresh_from_db()
        assert (ring.stock, ring.low_stock_threshold, ring.product.name) == (8, 1, "Renamed by staff")
        assert list(StockAdjustment.objects.filter(variant=ring).values_list("stock_before", "stock_after")) == [(5, 8)]
    else:
        assert len(failures) == 1
        assert isinstance(failures[0], OperationalError)
        assert "deadlock detected" in str(failures[0])


@pytest.mark.django_db(transaction=True)
def test_an_import_and_a_staff_stock_change_on_the_product_page_both_complete():
    """With a stock change the product page's formset locks the variants while it is validated, before
    the product row is written. It locks the product first now, as the import does; before, the import
    (holding the product) waited for the variant while the page waited for the product: a deadlock."""
    ring = ProductVariantFactory(price=Decimal("100.00"), stock=5)
    checked = threading.Event()

    def staff_stock_change():
        with transaction.atomic():  # the admin's change view runs in one transaction
            variant = ProductVariant.objects.get(pk=ring.pk)
            data = {
                "product": variant.product_id,
                "sku": variant.sku,
                "metal": variant.metal,
                "ring_size": variant.ring_size or "",
                "price": variant.price,
                "low_stock_threshold": variant.low_stock_threshold,
                "is_active": "on",
                "position": variant.position,
                "stock_change": 3,
                "stock_reason": StockReason.RECEIVED,
            }
            form = VariantAdminForm(data=data, instance=variant)
            assert form.is_valid(), form.errors
            stock_changes_check([form])  # what VariantInlineFormSet.clean runs
            checked.set()
            wait_until(lambda: _lock_waiters(fresh=True) == 1, timeout=30, what="the import waiting for a lock")
            product = Product.objects.get(pk=ring.product_id)
            product.name = "Renamed by staff"
            product.save()  # save_model
            variant_stock_adjust(variant_id=ring.pk, change=3, reason=StockReason.RECEIVED)  # save_related
        return "saved"

    def import_after_the_check():
        assert checked.wait(timeout=30), "the staff change was never checked"
        return product_import_csv(file=sheet(_row(ring, 9))).ok

    results = run_together([staff_stock_change, import_after_the_check], what="the staff change and the import")

    assert results == ["saved", True]
    changes = StockAdjustment.objects.filter(variant=ring).order_by("pk").values_list("stock_before", "stock_after")
    assert list(changes) == [(5, 8), (8, 9)]  # the page's +3, then the sheet's recount
