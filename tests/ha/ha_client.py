"""A client of a real Home Assistant for tests/home_assistant.rs: what a
user does in its UI, done through its own APIs (onboarding, the MQTT config
flow, the entity registry, the state machine's events). One operation per
run; the result is one JSON document on stdout.

Runs with the Home Assistant venv's Python (it uses aiohttp from there).
Written from Home Assistant's documented REST and websocket APIs, not from
camrelay: it knows nothing of camrelay's topics or payloads.

    ha_client.py setup URL BROKER_PORT USER PASSWORD   -> {"token": ...}
    ha_client.py states URL TOKEN                      -> [state, ...]
    ha_client.py registry URL TOKEN                    -> [entry, ...]
    ha_client.py rename URL TOKEN ENTITY NEW_ID NAME   -> entry
    ha_client.py service URL TOKEN DOMAIN SERVICE ENTITY -> [changed states]
    ha_client.py watch URL TOKEN FILE                  (state_changed events as JSON lines, until killed)
"""

import asyncio
import json
import sys

import aiohttp

CLIENT_ID = "http://camrelay.test/"


async def ws_session(session, url, token):
    ws = await session.ws_connect(url.replace("http", "ws", 1) + "/api/websocket")
    hello = await ws.receive_json()
    assert hello["type"] == "auth_required", hello
    await ws.send_json({"type": "auth", "access_token": token})
    ok = await ws.receive_json()
    if ok["type"] != "auth_ok":
        raise SystemExit(f"websocket auth failed: {ok}")
    return ws


async def ws_call(ws, n, message):
    message["id"] = n
    await ws.send_json(message)
    while True:
        reply = await ws.receive_json()
        if reply.get("id") == n and reply.get("type") == "result":
            if not reply.get("success"):
                raise SystemExit(f"{message['type']} failed: {reply.get('error')}")
            return reply.get("result")


async def setup(url, broker_port, user, password):
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{url}/api/onboarding/users",
            json={
                "client_id": CLIENT_ID,
                "name": "Owner",
                "username": "owner",
                "password": "owner-password-1",
                "language": "en",
            },
        )
        r.raise_for_status()
        code = (await r.json())["auth_code"]
        r = await s.post(
            f"{url}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
        )
        r.raise_for_status()
        access = (await r.json())["access_token"]
        ws = await ws_session(s, url, access)
        token = await ws_call(
            ws, 1, {"type": "auth/long_lived_access_token", "client_name": "camrelay tests", "lifespan": 30}
        )
        await ws.close()
        headers = {"Authorization": f"Bearer {token}"}
        # The MQTT integration, set up as its UI does: the config flow.
        r = await s.post(f"{url}/api/config/config_entries/flow", json={"handler": "mqtt"}, headers=headers)
        r.raise_for_status()
        flow = await r.json()
        if flow.get("type") != "form":
            raise SystemExit(f"mqtt config flow: {flow}")
        r = await s.post(
            f"{url}/api/config/config_entries/flow/{flow['flow_id']}",
            json={"broker": "127.0.0.1", "port": int(broker_port), "username": user, "password": password},
            headers=headers,
        )
        r.raise_for_status()
        done = await r.json()
        if done.get("type") != "create_entry":
            raise SystemExit(f"mqtt config flow did not create an entry: {done}")
        return {"token": token}


async def rest(url, token, method, path, body=None):
    async with aiohttp.ClientSession() as s:
        r = await s.request(method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        return await r.json()


async def registry(url, token):
    async with aiohttp.ClientSession() as s:
        ws = await ws_session(s, url, token)
        result = await ws_call(ws, 1, {"type": "config/entity_registry/list"})
        await ws.close()
        return result


async def rename(url, token, entity, new_id, name):
    async with aiohttp.ClientSession() as s:
        ws = await ws_session(s, url, token)
        result = await ws_call(
            ws,
            1,
            {"type": "config/entity_registry/update", "entity_id": entity, "new_entity_id": new_id, "name": name},
        )
        await ws.close()
        return result


async def watch(url, token, path):
    async with aiohttp.ClientSession() as s:
        ws = await ws_session(s, url, token)
        await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
        with open(path, "a", buffering=1) as out:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                if data.get("type") == "event":
                    out.write(json.dumps(data["event"]["data"]) + "\n")
                elif data.get("type") == "result":
                    out.write(json.dumps({"subscribed": data.get("success")}) + "\n")
    return None


def main(argv):
    op, url = argv[1], argv[2]
    if op == "setup":
        result = asyncio.run(setup(url, argv[3], argv[4], argv[5]))
    elif op == "states":
        result = asyncio.run(rest(url, argv[3], "GET", "/api/states"))
    elif op == "registry":
        result = asyncio.run(registry(url, argv[3]))
    elif op == "rename":
        result = asyncio.run(rename(url, argv[3], argv[4], argv[5], argv[6]))
    elif op == "service":
        result = asyncio.run(
            rest(url, argv[3], "POST", f"/api/services/{argv[4]}/{argv[5]}", {"entity_id": argv[6]})
        )
    elif op == "watch":
        result = asyncio.run(watch(url, argv[3], argv[4]))
    else:
        raise SystemExit(f"unknown operation {op}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
