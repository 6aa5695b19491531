"""The tool's first signing key, so that a new installation can be registered at once (rotate with rotate_keys)."""
from django.db import migrations
from jwcrypto.jwk import JWK


def first_key(apps, schema_editor):
    Key = apps.get_model("lti_tool", "Key")
    if not Key.objects.filter(is_active=True).exists():
        # As django-lti's Key.objects.generate() does (historical models have no custom managers).
        key = JWK.generate(kty="RSA", size=2048)
        Key.objects.create(public_key=key.export_to_pem().decode(),
                           private_key=key.export_to_pem(private_key=True, password=None).decode())


class Migration(migrations.Migration):
    dependencies = [("lti_tool", "0008_ltideployment_pns_url_and_more")]
    operations = [migrations.RunPython(first_key, migrations.RunPython.noop)]
