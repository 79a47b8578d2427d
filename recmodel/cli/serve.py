"""``fedrec serve``: the site's recommendations over HTTP (``recmodel.http_service``), with uvicorn."""

from __future__ import annotations

from recmodel.cli.arguments import add_served_run, positive_int



def register(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve a run's recommendations over HTTP at a partner site (OpenAPI docs at /docs)",
        description="An HTTP service over a finished run and the site's own events file: top-k for a customer, "
                    "for a posted session or a new visitor (cold start), similar items, profiles. Listens on "
                    "127.0.0.1 unless --host says otherwise; put it behind the site's own TLS and access control.")
    add_served_run(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=positive_int, default=8000, help="port (default 8000)")
    serve.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    import uvicorn

    from recmodel.errors import DataError
    from recmodel.http_service import create_app
    from recmodel.site_recommender import SiteRecommender

    if not 1 <= args.port <= 65535:
        raise DataError(f"--port must be between 1 and 65535 (got {args.port})")
    site = SiteRecommender.load(args.run, args.data, which=args.model)
    info = site.model_info()
    print(f"fedrec serve: model {info['model']['why']}; {info['users']:,} users, {info['items']:,} items; "
          f"http://{args.host}:{args.port}/docs", flush=True)
    uvicorn.run(create_app(site), host=args.host, port=args.port, log_level="warning")
    return 0
