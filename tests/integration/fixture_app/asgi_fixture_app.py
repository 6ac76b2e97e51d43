"""A small FastAPI app behind Mangum, as the real HTTP API function is built: the local
gateway hands it the same payload 2.0 events as API Gateway, never the app itself."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from mangum import Mangum

app = FastAPI()


@app.get("/api/hello/{name}")
def hello(name: str, request: Request, greeting: str = "hello") -> dict[str, object]:
    return {
        "message": f"{greeting}, {name}",
        "path": request.url.path,
        "cookies": dict(request.cookies),
        "host": request.headers.get("host"),
        "scheme": request.url.scheme,
    }


@app.post("/api/items", status_code=201)
async def create_item(request: Request, response: Response) -> dict[str, object]:
    item = await request.json()
    response.set_cookie("last", str(item.get("name")))
    response.set_cookie("count", "1")
    response.headers["x-item"] = "created"
    return {"created": item}


@app.put("/api/blob")
async def reverse_blob(request: Request) -> Response:
    data = await request.body()
    return Response(content=data[::-1], media_type="application/octet-stream")


handler = Mangum(app, lifespan="off")
