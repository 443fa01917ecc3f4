"""Open311 GeoReport v2, read-only (JSON): services, service requests, one request. An API key on every route
(`api_key` query parameter or `X-API-Key` header); a staff session alone opens nothing here."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from bot.web.deps import parts
from handlers.accounts import ApiClient
from handlers.open311 import Open311Error, parse_query

router = APIRouter(prefix="/open311/v2")


async def api_client(request: Request) -> ApiClient:
    """The key's holder; 401 (as JSON, by the app's handler for /open311/) when the key is missing or wrong."""
    key = request.query_params.get("api_key") or request.headers.get("x-api-key")
    found = await parts(request).accounts.api_client(key)
    if found is None:
        raise HTTPException(status_code=401, detail="需要有效的 API key（api_key 参数或 X-API-Key 请求头）。")
    return found


def _error(exc: Open311Error) -> Response:
    return JSONResponse([{"code": exc.code, "description": exc.description}], status_code=exc.code)


@router.get("/services.json")
async def services(request: Request, client: ApiClient = Depends(api_client)) -> Response:
    return JSONResponse(parts(request).desk.open311_services())


@router.get("/requests.json")
async def requests(
    request: Request,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    client: ApiClient = Depends(api_client),
) -> Response:
    desk = parts(request).desk
    try:
        query = parse_query(
            service_request_id=service_request_id, service_code=service_code, start_date=start_date,
            end_date=end_date, status=status,
        )
        found = await desk.open311_requests(client, query, now=desk.clock())
    except Open311Error as exc:
        return _error(exc)
    return JSONResponse(found)


@router.get("/requests/{number}.json")
async def one_request(request: Request, number: str, client: ApiClient = Depends(api_client)) -> Response:
    try:
        found = await parts(request).desk.open311_request(client, number)
    except Open311Error as exc:
        return _error(exc)
    return JSONResponse(found)
