# Writes OUT, a C file holding docs/openapi.json (SRC) as a C string, so
# `refold serve` answers /v1/openapi.json with the document the docs show.
file(READ ${SRC} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
file(WRITE ${OUT} "/* generated from docs/openapi.json by embed_openapi.cmake: do not edit */\nconst char rf__openapi_json[] = {${arr} 0};\n")
