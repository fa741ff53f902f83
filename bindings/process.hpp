// The process helpers of the addon (process.cpp), registered by addon.cpp's Init.
#pragma once
#include <napi.h>

void RegisterProcess(Napi::Env env, Napi::Object exports);
