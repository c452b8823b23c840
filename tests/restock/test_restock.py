"""Back-in-stock sign-ups: one e-mail per sign-up when stock goes from 0 to more, whatever path moves
the stock; after commit only; duplicates, forged unsubscribe tokens, rate limits, CSRF and races."""

import io
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from catalog.models import ProductVariant
from catalog.services.product_import import product_import_csv
from catalog.services.stock import variant_stock_move
from mailqueue.models import Mail
from restock.models import RestockSignup
from restock.services import RestockError, restock_notify, restock_signup_create
from restock.tokens import restock_unsubscribe_token
from tests.factories import ProductVariantFactory
from tests.threads import run_together

pytestmark = pytest.mark.django_db


def queued() -> list[Mail]:
    """The back-in-stock e-mails in the durable queue (mailqueue), oldest first."""
    return list(Mail.objects.filter(kind="restock").order_by("pk"))


def queued_to() -> list[str]:
    return [m.to for m in queued()]


@pytest.fixture
def sold_out():
    return ProductVariantFactory(stock=0, sku="RING-SOLD-L", ring_size="L")


def sign_up(client, variant, email="fan@example.com", **extra):
    return client.post(reverse("restock:signup"), {"variant": variant.pk, "email": email}, **extra)


def test_signup_then_restock_sends_one_email_with_an_unsubscribe_link(
    client, sold_out, django_capture_on_commit_callbacks
):
    response = sign_up(client, sold_out, email="  Fan@Example.com ")
    assert response.status_code == 302
    assert response["Location"] == sold_out.product.get_absolute_url()
    assert RestockSignup.objects.get().email == "fan@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.stock = 2
        sold_out.save()  # the admin and the CSV import save variants
    (mail,) = queued()
    assert mail.to == "fan@example.com"
    assert "back in stock" in mail.subject
    assert sold_out.product.get_absolute_url() in mail.text_body
    metal = sold_out.get_metal_display().lower()
    for body in (mail.text_body, mail.html_body):
        assert f"in {metal}, size L is back" in body  # the ring size as the shop writes it, never "size l"
    assert "/back-in-stock/unsubscribe/" in mail.text_body
    assert "/back-in-stock/unsubscribe/" in mail.html_body
    assert RestockSignup.objects.get().notified_at is not None
    # More stock, or stock sold and back again: the sign-up was used, no second e-mail.
    with django_capture_on_commit_callbacks(execute=True):
        variant_stock_move(deltas={sold_out.pk: 3})
    assert len(queued()) == 1


def test_orders_returning_stock_notifies(sold_out, django_capture_on_commit_callbacks):
    """The orders path: variant_stock_move (what _stock_restore does on a cancellation)."""
    restock_signup_create(variant_id=sold_out.pk, email="a@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        variant_stock_move(deltas={sold_out.pk: 1})
    assert queued_to() == ["a@example.com"]


def test_csv_import_restock_notifies(sold_out, django_capture_on_commit_callbacks):
    restock_signup_create(variant_id=sold_out.pk, email="b@example.com")
    row = f"{sold_out.sku},{sold_out.product.slug},{sold_out.metal},250.00,4,L"
    csv_text = f"sku,product_slug,metal,price,stock,ring_size\n{row}\n"
    with django_capture_on_commit_callbacks(execute=True):
        result = product_import_csv(file=io.StringIO(csv_text))
    assert result.ok, result.errors
    assert queued_to() == ["b@example.com"]


def test_a_rolled_back_restock_sends_nothing(sold_out, django_capture_on_commit_callbacks):
    restock_signup_create(variant_id=sold_out.pk, email="c@example.com")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                sold_out.stock = 5
                sold_out.save()
                raise RuntimeError("admin save failed later")
        except RuntimeError:
            pass
    assert callbacks == []
    assert queued() == []
    assert RestockSignup.objects.get().notified_at is None


def test_a_stock_change_that_stays_at_zero_sends_nothing(sold_out, django_capture_on_commit_callbacks):
    restock_signup_create(variant_id=sold_out.pk, email="d@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.price = 300
        sold_out.save()
    assert queued() == []


def test_duplicate_signup_makes_one_email(client, sold_out, django_capture_on_commit_callbacks):
    for email in ("fan@example.com", "FAN@example.com", "fan@example.com"):
        assert sign_up(client, sold_out, email=email).status_code == 302
    assert RestockSignup.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.stock = 1
        sold_out.save()
    assert len(queued()) == 1


def test_signup_refused_when_in_stock_or_inactive(sold_out):
    in_stock = ProductVariantFactory(stock=2)
    with pytest.raises(RestockError, match="in stock now"):
        restock_signup_create(variant_id=in_stock.pk, email="e@example.com")
    sold_out.is_active = False
    sold_out.save()
    with pytest.raises(RestockError, match="no longer available"):
        restock_signup_create(variant_id=sold_out.pk, email="e@example.com")
    assert not RestockSignup.objects.exists()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"variant": "abc", "email": "x@example.com"}, 404),
        ({"variant": "999999", "email": "x@example.com"}, 404),
        ({"email": "x@example.com"}, 404),
        ({"variant": "SOLD", "email": "not an address"}, 400),
        ({"variant": "SOLD", "email": ""}, 400),
        ({"variant": "SOLD", "email": "x" * 250 + "@example.com"}, 400),
    ],
)
def test_bad_signup_input_is_a_clear_4xx(client, sold_out, data, status):
    data = {k: (str(sold_out.pk) if v == "SOLD" else v) for k, v in data.items()}
    response = client.post(reverse("restock:signup"), data)
    assert response.status_code == status
    if status == 400:
        assert b"We could not sign you up" in response.content
    assert not RestockSignup.objects.exists()


def test_signup_needs_csrf(sold_out):
    client = Client(enforce_csrf_checks=True)
    assert sign_up(client, sold_out).status_code == 403
    assert not RestockSignup.objects.exists()


def test_signups_are_rate_limited_per_client_address(client, sold_out, settings):
    settings.SHOP_RESTOCK_SIGNUP_RATE = "3/h"
    codes = [sign_up(client, sold_out, email=f"n{i}@example.com").status_code for i in range(4)]
    assert codes == [302, 302, 302, 429]
    assert RestockSignup.objects.count() == 3
    # A forged X-Forwarded-For from the shopper does not buy a fresh allowance (client_ip trusts set hops only).
    forged = sign_up(client, sold_out, email="n9@example.com", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forged.status_code == 429


def _link(token: str) -> str:
    return reverse("restock:unsubscribe") + "?" + urlencode({"t": token})


def test_unsubscribe_link_deletes_only_its_signup(client, sold_out):
    mine = restock_signup_create(variant_id=sold_out.pk, email="me@example.com")
    other = restock_signup_create(variant_id=sold_out.pk, email="other@example.com")
    exchanged = client.get(_link(restock_unsubscribe_token(signup=mine)))
    # The token goes into the session and the browser on to the token-free page (issue #21).
    assert exchanged.status_code == 302
    assert exchanged["Location"] == reverse("restock:unsubscribe")
    page = client.get(exchanged["Location"])
    assert page.status_code == 200
    assert f'action="{reverse("restock:unsubscribe")}"' in page.content.decode()
    assert RestockSignup.objects.filter(pk=mine.pk).exists()
    assert client.post(reverse("restock:unsubscribe")).status_code == 200
    assert not RestockSignup.objects.filter(pk=mine.pk).exists()
    assert RestockSignup.objects.filter(pk=other.pk).exists()
    # A second click on the e-mail's link is harmless.
    assert client.get(_link(restock_unsubscribe_token(signup=mine)), follow=True).status_code == 200


def test_the_token_free_page_without_a_link_behind_it_says_so_plainly(client, sold_out):
    page = client.get(reverse("restock:unsubscribe"))
    assert page.status_code == 404
    assert b"This unsubscribe link has expired or was already used" in page.content
    assert client.post(reverse("restock:unsubscribe")).status_code == 404


def test_links_sent_before_with_the_token_in_the_path_still_work(client, sold_out):
    mine = restock_signup_create(variant_id=sold_out.pk, email="me@example.com")
    old_link = reverse("restock:unsubscribe-legacy", kwargs={"token": restock_unsubscribe_token(signup=mine)})
    assert client.get(old_link)["Location"] == reverse("restock:unsubscribe")
    # A confirm page rendered before the change posts to the old link: it still unsubscribes.
    assert client.post(old_link).status_code == 200
    assert not RestockSignup.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize("token", ["1", "1:forged", "abc", "MQ:1tAmpered:xyz"])
def test_forged_unsubscribe_tokens_are_404(client, sold_out, token):
    signup = restock_signup_create(variant_id=sold_out.pk, email="me@example.com")
    assert client.get(_link(token)).status_code == 404
    assert client.post(reverse("restock:unsubscribe-legacy", kwargs={"token": token})).status_code == 404
    assert client.post(reverse("restock:unsubscribe")).status_code == 404
    assert RestockSignup.objects.filter(pk=signup.pk).exists()


def test_token_from_another_salt_is_refused(client, sold_out):
    from django.core import signing

    signup = restock_signup_create(variant_id=sold_out.pk, email="me@example.com")
    token = signing.dumps(signup.pk)  # signed with our key, but not as an unsubscribe token
    assert client.get(_link(token)).status_code == 404
    assert client.post(reverse("restock:unsubscribe-legacy", kwargs={"token": token})).status_code == 404


def test_unsubscribe_link_in_the_email_works(client, sold_out, django_capture_on_commit_callbacks):
    restock_signup_create(variant_id=sold_out.pk, email="me@example.com")
    other = ProductVariantFactory(stock=0)
    RestockSignup.objects.create(variant=other, email="me@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.stock = 1
        sold_out.save()
    link = re.search(r"(/back-in-stock/unsubscribe/\?t=\S+)", queued()[0].text_body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    # After the e-mail, the same link deletes the record (the privacy notice promises it).
    assert client.post(reverse("restock:unsubscribe")).status_code == 200
    assert list(RestockSignup.objects.values_list("variant_id", flat=True)) == [other.pk]


def test_product_page_offers_the_form_only_for_sold_out_variants(client, sold_out):
    in_stock = ProductVariantFactory(product=sold_out.product, stock=3, sku="RING-M", ring_size="M")
    html = client.get(sold_out.product.get_absolute_url()).content.decode()
    assert f'action="{reverse("restock:signup")}"' in html
    assert f'name="variant" value="{sold_out.pk}"' in html
    assert f'value="{in_stock.pk}">' not in html.split('class="restock-form"')[1].split("</form>")[0]
    in_stock_only = ProductVariantFactory(stock=5)
    html = client.get(in_stock_only.product.get_absolute_url()).content.decode()
    assert 'class="restock-form"' not in html


@pytest.mark.django_db(transaction=True)
def test_concurrent_notifiers_send_each_signup_once():
    """Two notifiers (two restocks committing together) race over the same sign-ups."""
    variant = ProductVariantFactory(stock=5)  # back in stock before the sign-ups are seen (no notifier yet)
    for i in range(10):
        RestockSignup.objects.create(variant=variant, email=f"r{i}@example.com")
    counts = run_together([lambda: restock_notify(variant_ids=[variant.pk])] * 2, join_timeout=30)
    assert sum(counts) == 10
    assert sorted(queued_to()) == sorted(f"r{i}@example.com" for i in range(10))


@pytest.mark.django_db(transaction=True)
def test_signup_racing_a_restock_is_never_lost():
    """A sign-up and a restock at once: either the sign-up is refused (it is back) or it is e-mailed."""
    for round_ in range(5):
        variant = ProductVariantFactory(stock=0)

        def signup(variant=variant, round_=round_):
            try:
                restock_signup_create(variant_id=variant.pk, email=f"race{round_}@example.com")
            except RestockError:
                return "refused"
            return "created"

        def restock(variant=variant):
            with transaction.atomic():
                v = ProductVariant.objects.select_for_update().get(pk=variant.pk)
                v.stock = 1
                v.save()

        outcome = dict(zip(("signup", "restock"), run_together([signup, restock], join_timeout=30), strict=True))
        sent = [to for to in queued_to() if to == f"race{round_}@example.com"]
        assert (outcome["signup"], len(sent)) in {("created", 1), ("refused", 0)}, outcome


def test_an_order_selling_out_then_cancelled_notifies_once(django_capture_on_commit_callbacks):
    """The real orders path: order_place sells the last pieces, a cancellation returns them."""
    from orders.models import OrderStatus
    from orders.workflow import order_transition
    from tests.factories import StaffUserFactory
    from tests.orders.conftest import cart_with, place

    variant = ProductVariantFactory(stock=2)
    with django_capture_on_commit_callbacks(execute=True):
        order = place(cart_with((variant, 2)))
    restock_signup_create(variant_id=variant.pk, email="waiting@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order=order, to_status=OrderStatus.CANCELLED, actor=StaffUserFactory())
    assert queued_to() == ["waiting@example.com"]


def test_the_queued_email_is_delivered_by_the_mail_worker_function(
    sold_out, mailoutbox, django_capture_on_commit_callbacks
):
    from mailqueue.services import mail_deliver

    restock_signup_create(variant_id=sold_out.pk, email="deliver@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        sold_out.stock = 1
        sold_out.save()
    assert mailoutbox == []  # queued, not sent in the request
    mail_deliver(mail_id=queued()[0].pk)
    (message,) = mailoutbox
    assert message.to == ["deliver@example.com"]
    assert "is back in stock" in message.alternatives[0][0]


def test_sold_out_sizes_between_available_ones_share_one_form(client, sold_out):
    """Sizes interleave in/out of stock (J sold, L in, N sold, P in): still one form listing both sold ones."""
    product = sold_out.product
    ProductVariantFactory(product=product, stock=2, sku="RING-K", ring_size="K")
    other_sold = ProductVariantFactory(product=product, stock=0, sku="RING-N", ring_size="N")
    ProductVariantFactory(product=product, stock=1, sku="RING-P", ring_size="P")
    html = client.get(product.get_absolute_url()).content.decode()
    assert html.count('class="restock-form"') == 1
    form = html.split('class="restock-form"')[1].split("</form>")[0]
    assert f'value="{sold_out.pk}"' in form
    assert f'value="{other_sold.pk}"' in form
