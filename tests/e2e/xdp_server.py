#!/usr/bin/python3
"""A tiny TCP server for the XDP site test: on every connection it writes its name and a newline,
then answers each line it reads with its name again, and closes on EOF.

    xdp_server.py NAME ADDR:PORT [ADDR:PORT ...]

Prints "ready" once every listener is bound. No state, no logging per connection: thousands of
connections go through it in a few seconds.
"""
import asyncio
import sys


async def main() -> None:
    name = sys.argv[1].encode() + b"\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(name)
            await writer.drain()
            # Bounded: a connection that neither talks nor closes for a minute is dropped.
            while True:
                line = await asyncio.wait_for(reader.readline(), 60)
                if not line:
                    break
                writer.write(name)
                await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    servers = []
    for spec in sys.argv[2:]:
        host, port = spec.rsplit(":", 1)
        servers.append(await asyncio.start_server(serve, host, int(port), backlog=1024, reuse_address=True))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
