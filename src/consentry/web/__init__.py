"""The web app shell (`consentry serve`): FastAPI routes and Jinja2 templates over the services.

A route parses the request and renders a template; it holds no SQL and writes no audit event
(the services do, with the ``Account`` acting)."""
