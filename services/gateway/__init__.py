"""The HTTP/JSON gateway for integrators: authentication, fan-out to the services, the start of every trace."""
