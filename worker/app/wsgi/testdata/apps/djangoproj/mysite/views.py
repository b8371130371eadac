import json
import os

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("hello from django")


@csrf_exempt
def upload(request):
    files = {k: f.size for k, f in request.FILES.items()}
    return JsonResponse({"post": request.POST.dict(), "files": files, "method": request.method})


def where(request):
    return JsonResponse({
        "path": request.path,
        "path_info": request.path_info,
        "script_name": request.META.get("SCRIPT_NAME"),
        "reverse": reverse("where"),
        "absolute": request.build_absolute_uri(),
        "secure": request.is_secure(),
        "pid": os.getpid(),
    })


def stream(request):
    return StreamingHttpResponse((b"part %d\n" % i for i in range(3)), content_type="text/plain")
