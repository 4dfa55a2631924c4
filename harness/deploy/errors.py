"""A description that cannot be used: one line naming the key (the config file's reader and the
option's loader add where it is)."""


class DescriptionError(ValueError):
    pass
