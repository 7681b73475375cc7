/** Help texts, printed by `tagcache help [command]` and after a usage error. */

export const PURGE_USAGE = `Usage: tagcache purge --tag <tag> [--tag <tag>]... [--host <host>] [--soft]
       tagcache purge --url <url> [--url <url>]... [--soft]
       tagcache purge --prefix <url> [--prefix <url>]... [--soft]
       tagcache purge --all [--soft]

Purges cached responses through tagcache's admin API (POST /invalidate).

  -t, --tag <tag>   a surrogate key (exact, case-sensitive); repeat for several
  -u, --url <url>   an absolute URL as clients requested it, e.g. https://shop.example/products/1
  -p, --prefix <url>  every URL of that host whose path starts with it, e.g. https://shop.example/products/
      --host <host> with --tag: only the tagged responses of that host, e.g. shop.example
      --all         every cached response
      --soft        mark stale instead of deleting: the next request revalidates
                    with the backend, and stale-if-error can still serve it
  -h, --help        this text

Environment:
  TAGCACHE_TOKEN      INVALIDATE_TOKEN or a token from INVALIDATE_TOKENS_FILE with the purge's scope
                      (required; never taken from the command line)
  TAGCACHE_ADMIN_URL  the admin listener, default http://127.0.0.1:9145

Prints e.g. "purged 17 entries (hard) for 2 tags in 3.4 ms". Exits 1 with the
server's error when it refuses, 2 on bad arguments.`;

export const CHECK_ROUTES_USAGE = `Usage: tagcache check-routes [routes.json]

Validates a route table with the proxy's own parser and prints "ok: N routes",
or every problem with the name of its route. The file defaults to $ROUTES_FILE,
else ./routes.json. Exits 1 when the table is invalid, 2 on bad arguments.`;

export const MAIN_USAGE = `Usage: tagcache <command> [options]

Commands:
  purge          purge cached responses by tag, by URL, by URL prefix or all of them
  check-routes   validate a route table (routes.json) before deploying it
  help [command] show this text, or a command's

Run "tagcache help <command>" for a command's options.
The proxy itself runs with "node dist/src/main.js" (npm start); see the README.`;

export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  purge: PURGE_USAGE,
  'check-routes': CHECK_ROUTES_USAGE,
};
