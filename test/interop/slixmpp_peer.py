"""An independent XMPP client (slixmpp) for Stox's interop test.

Logs in, announces presence, prints "READY", waits for one message whose body starts with the expected
prefix, prints it as a JSON line, replies to `reply_to`, prints "SENT" and exits. Exit 1 on timeout.
"""
import asyncio
import json
import sys

import slixmpp


class Peer(slixmpp.ClientXMPP):
    def __init__(self, jid, password, prefix, reply_to):
        super().__init__(jid, password)
        self.prefix = prefix
        self.reply_to = reply_to
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)

    async def on_start(self, _event):
        self.send_presence()
        await self.get_roster()
        print("READY", flush=True)

    def on_message(self, msg):
        if msg["type"] not in ("normal", "chat") or not msg["body"].startswith(self.prefix):
            return
        print(json.dumps({"from": str(msg["from"]), "body": msg["body"], "thread": msg["thread"]}), flush=True)
        self.send_message(mto=self.reply_to, mbody="reply from slixmpp: " + msg["body"].strip(), mtype="normal")
        print("SENT", flush=True)
        if not self.done.done():
            self.done.set_result(True)


async def main():
    jid, password, host, port, prefix, reply_to = sys.argv[1:7]
    peer = Peer(jid, password, prefix, reply_to)
    peer["feature_mechanisms"].unencrypted_plain = True
    peer.connect((host, int(port)), use_ssl=False, force_starttls=False, disable_starttls=True)
    try:
        await asyncio.wait_for(peer.done, timeout=20)
        await asyncio.sleep(0.5)  # let the reply leave before closing the stream
    except asyncio.TimeoutError:
        print("TIMEOUT", flush=True)
        sys.exit(1)
    finally:
        peer.disconnect()


asyncio.run(main())
