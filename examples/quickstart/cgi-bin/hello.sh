#!/bin/sh
# A CGI script (RFC 3875): headers, a blank line, the body. arbiter runs it per request.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
echo "Hello from a CGI script, pid $$"
echo "SCRIPT_NAME=$SCRIPT_NAME PATH_INFO=$PATH_INFO QUERY_STRING=$QUERY_STRING"
echo "REQUEST_METHOD=$REQUEST_METHOD REMOTE_ADDR=$REMOTE_ADDR SERVER_PROTOCOL=$SERVER_PROTOCOL"
