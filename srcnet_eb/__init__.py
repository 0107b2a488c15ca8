"""The SRCNet IVOA Execution Broker: the project's one import root.

The card's folders stay at the top of the repository (``services/gateway/`` … ``shared/``); the
build maps them under this package (``srcnet_eb.shared``, ``srcnet_eb.services``,
``srcnet_eb.standins``; see ``setup.py``), so that no generic top-level name of ours is installed
and a folder called ``shared/`` elsewhere on ``sys.path`` cannot shadow this one. A plug-in needs
only ``srcnet_eb.plugin``.
"""
