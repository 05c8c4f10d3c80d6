from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.TextField()
    price_cents = models.IntegerField()
    stock = models.IntegerField(default=0)
