"""The platform port and what comes with it: the Protocol a plug-in implements, plug-in discovery, building
an offer, volume mounts, and the conformance kit. Plug-in authors import it all from `srcnet_eb.plugin`."""
