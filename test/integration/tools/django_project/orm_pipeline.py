"""The inventory app's data through Django's ORM (DJANGO_SETTINGS_MODULE=pipeline_settings): inserts,
a filtered select and update, an update of every row (which the example rules deny), a
transaction.atomic block whose nested savepoint rolls back a duplicate, and a server-side cursor
over every row with .iterator(). Prints one JSON object."""
import json

import django
from django.db import DatabaseError, IntegrityError, transaction


def pgcode(error):
    return error.__cause__.pgcode


def main():
    django.setup()
    from inventory.models import Product

    # A read first: in a session that has not read yet, pgwarden has not looked up the CI column
    # masks' sources and sends the RETURNING ids of bulk_create() and create() masked, as '***'.
    out = {"before": Product.objects.count()}
    parts = (Product(sku="sku-%04d" % i, name="part %d" % i, price_cents=i) for i in range(1, 5001))
    Product.objects.bulk_create(parts, batch_size=1000)
    out["expensive"] = list(Product.objects.filter(price_cents__gt=4997).order_by("sku").values_list("sku", flat=True))
    out["restocked"] = Product.objects.filter(sku__in=["sku-0001", "sku-0002"]).update(stock=7)
    try:
        Product.objects.update(stock=0)
    except DatabaseError as e:
        out["unbounded_update"] = pgcode(e)
    with transaction.atomic():
        Product.objects.create(sku="kept", name="in the outer block", price_cents=1)
        try:
            with transaction.atomic():
                Product.objects.create(sku="undone", name="in the savepoint", price_cents=1)
                Product.objects.create(sku="kept", name="a duplicate", price_cents=1)
        except IntegrityError as e:
            out["savepoint"] = pgcode(e)
    out["iterated"] = sum(p.price_cents for p in Product.objects.order_by("id").iterator(chunk_size=1000))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
