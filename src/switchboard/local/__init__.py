"""The local gateway: template.yaml's WebSocket API served on a laptop.

Nothing in this subpackage is imported by the deployed Lambda code.
"""
