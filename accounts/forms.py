from django import forms

from .models import POSTAL_ADDRESS_FIELDS, Address
from .text_rules import ADDRESS_FIELD_CLASSES, PlainTextField


class AddressForm(forms.ModelForm):
    make_default = forms.BooleanField(required=False, label="Use this address at checkout by default")

    class Meta:
        model = Address
        fields = ("label", *POSTAL_ADDRESS_FIELDS)
        # The checkout's text rules (accounts.text_rules): a saved address never holds text checkout refuses.
        field_classes = {"label": PlainTextField, **ADDRESS_FIELD_CLASSES}
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "country": forms.Select(attrs={"autocomplete": "country"}),
        }
