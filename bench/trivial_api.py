"""The floor: a trivial FastAPI POST with a pydantic body, served like the gateway (uvicorn)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    cores: int


@app.post("/items")
async def post_item(item: Item) -> Item:
    return item


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
