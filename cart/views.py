# Placeholder until the cart issue lands.
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST


def cart_detail(request):
    return render(request, "cart/detail.html")


@require_POST
def cart_add(request):
    messages.info(request, "Online ordering opens soon.")
    return redirect("cart:detail")
