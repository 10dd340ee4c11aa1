"""``python -m playbooks.i18n``: refresh messages.pot and merge it into every catalog."""

from playbooks.i18n.extract import update_catalogs

for path in update_catalogs():
    print(path)
