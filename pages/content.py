"""The shop's first text for each content page, loaded by migration 0002 (staff edit it afterwards)."""

# UK letter, US size, EU size, inside circumference in millimetres (ISO 8653: EU size = circumference).
RING_SIZES = [
    ("F", "3", "44", "44.2"),
    ("G", "3½", "45", "45.5"),
    ("H", "4", "47", "46.8"),
    ("I", "4½", "48", "48.0"),
    ("J", "5", "49", "49.3"),
    ("K", "5½", "51", "50.6"),
    ("L", "6", "52", "51.9"),
    ("M", "6½", "53", "53.1"),
    ("N", "7", "54", "54.4"),
    ("O", "7½", "56", "55.7"),
    ("P", "8", "57", "57.0"),
    ("Q", "8½", "58", "58.3"),
    ("R", "9", "60", "59.5"),
    ("S", "9½", "61", "60.8"),
    ("T", "10", "62", "62.1"),
    ("U", "10½", "63", "63.4"),
    ("V", "11", "65", "64.6"),
    ("W", "11½", "66", "65.9"),
    ("X", "12", "67", "67.2"),
    ("Y", "12½", "68", "68.5"),
    ("Z", "13", "70", "69.7"),
]


def ring_size_table() -> str:
    rows = "\n".join(
        f'<tr><th scope="row">{uk}</th><td>{us}</td><td>{eu}</td><td>{mm}</td></tr>' for uk, us, eu, mm in RING_SIZES
    )
    return (
        '<table class="size-chart">\n<caption>Ring sizes: UK letter, US and EU size, inside circumference</caption>\n'
        '<thead><tr><th scope="col">UK</th><th scope="col">US</th><th scope="col">EU</th>'
        '<th scope="col">Inside circumference (mm)</th></tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table>"
    )


SIZE_GUIDE = f"""Our rings are made in UK letter sizes, F to Z. If you know your size in US or EU
sizes, find it in the chart below.

## Measure a ring you already wear

1. Choose a ring that fits the finger you are buying for.
2. Measure straight across the inside, edge to edge, in millimetres.
3. Multiply by 3.14 to get the inside circumference, and find the nearest line in the chart.

## Measure your finger

Wrap a strip of paper around the base of your finger, mark where it overlaps and measure the length
in millimetres: that is your circumference. Measure at the end of the day, when fingers are largest,
and choose the larger size if you fall between two. Wide bands (5 mm and more) fit snugly: go up half
a size.

{ring_size_table()}

Not sure? Order the size you think and we will resize it free of charge within 30 days, once.
"""

CARE = """Fine jewellery lasts for generations when it is looked after.

## Every day

- Put your jewellery on last, after perfume, hairspray and creams.
- Take it off to swim, shower, exercise, garden or clean: chlorine and household products dull
  metals and loosen settings.
- Store each piece on its own in the pouch it came in, so harder stones do not scratch softer metals.

## Cleaning

- **Gold and platinum:** soak for a few minutes in warm water with a drop of mild washing-up liquid,
  brush gently with a soft toothbrush, rinse and dry with a lint-free cloth.
- **Sterling silver:** polish with a silver cloth; store it in an airtight bag to slow tarnishing.
- **Pearls and opals:** wipe with a soft damp cloth only. Never soak them or use an ultrasonic cleaner.

## Free checks for life

Bring or send any of our pieces once a year and we will clean it, check the claws and settings and
tell you if anything needs attention, free of charge.
"""

DELIVERY = """## Delivery

Every order travels insured and tracked, gift-wrapped in our ivory box.

| Service | Time | Price |
| --- | --- | --- |
| UK standard (Royal Mail Special Delivery) | 1–2 working days | Free |
| UK next day before 1pm | next working day | £9.95 |
| Europe (tracked, insured) | 3–5 working days | £19.95 |

Orders placed before 2pm on a working day leave the workshop the same day. Engraved pieces take two
extra working days.

## Returns

Changed your mind? Return unworn pieces in their original packaging within 30 days of delivery for a
full refund to your original payment method. Engraved and resized pieces are made for you and cannot
be returned, unless faulty.

To return a piece, reply to your order confirmation e-mail and we will send you a prepaid, insured
returns label. Refunds are made within 5 working days of the piece reaching us.
"""

TERMS = """These terms apply to every order placed on this website.

## Prices and payment

All prices are in pounds sterling and include VAT. Payment is taken when your order is placed, or on
receipt of your bank transfer. A contract is made when we send your dispatch confirmation.

## Availability

We show the stock we hold. If a piece becomes unavailable after you order it, we will tell you and
refund you in full.

## Your right to cancel

Under the Consumer Contracts Regulations you may cancel within 14 days of delivery, for any reason,
except for personalised (engraved or resized) pieces. Our own returns policy gives you 30 days.

## Faulty pieces

Your statutory rights are not affected. If a piece is faulty we will repair, replace or refund it.

## Contact

Questions about these terms: see our contact page.
"""

PRIVACY = """We collect only what we need to take and deliver your order.

## What we keep

- Your name, address, e-mail and telephone number, to deliver your order and tell you about it.
- Your order history, for our accounts (kept six years, as the law requires).
- If you ask us to tell you when a piece is back in stock, your e-mail address for that piece only.
  We write to you once; the unsubscribe link in our e-mail deletes it, before or after we write.

## What we never do

We never sell your details. Card details go straight to our payment provider and never reach us.

## Your rights

You may ask for a copy of your data, its correction or its deletion at any time: write to us at the
address on our contact page. You may complain to the Information Commissioner's Office (ico.org.uk).
"""

CONTACT = """We are happy to help with sizes, orders, engraving and aftercare.

- **E-mail:** [hello@maison.example](mailto:hello@maison.example) (we answer within one working day)
- **Telephone:** [020 7946 0000](tel:+442079460000), Monday to Friday, 9am to 5pm
- **Workshop:** 12 Hatton Garden, London EC1N 8AN (visits by appointment)
"""

PAGES = [
    (
        "size-guide",
        "Ring size guide",
        "Find your ring size: UK, US and EU sizes with inside circumference.",
        SIZE_GUIDE,
    ),
    ("jewellery-care", "Jewellery care", "How to clean, store and look after gold, silver, pearls and stones.", CARE),
    ("delivery-and-returns", "Delivery and returns", "Insured, tracked delivery and 30-day returns.", DELIVERY),
    ("terms-of-sale", "Terms of sale", "The terms that apply to orders placed on this website.", TERMS),
    ("privacy", "Privacy notice", "What we keep about you, why, and your rights.", PRIVACY),
    ("contact", "Contact us", "E-mail, telephone and our Hatton Garden workshop.", CONTACT),
]
