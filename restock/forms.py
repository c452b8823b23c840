from django import forms


class RestockSignupForm(forms.Form):
    variant = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    email = forms.EmailField(max_length=254, label="Your e-mail address")
