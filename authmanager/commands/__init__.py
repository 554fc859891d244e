"""``authmanager`` sub-command groups, one module per noun."""
