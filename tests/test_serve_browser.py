"""The page at / in a real browser (headless system Chromium through Selenium and the
packaged chromedriver; nothing is downloaded): type a prompt, generate, see the image,
its blueprint, the seed and the history; a screenshot is saved in the test's tmp dir."""

import shutil

import pytest

from blueprint.models import build_components
from blueprint.pipeline import BlueprintPipeline
from blueprint.serve.app import create_app
from blueprint.serve.live import LiveServer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs chromium and chromium-driver (scripts/setup.sh --dev)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,1000", "--no-proxy-server"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, server, prompt: str, steps: int):
    """The page loaded and ready, with a prompt and a number of steps typed in; its waiter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "ready"))
    browser.find_element(By.ID, "prompt").send_keys(prompt)
    browser.find_element(By.ID, "steps").clear()
    browser.find_element(By.ID, "steps").send_keys(str(steps))
    return wait


def test_the_page_generates_an_image_and_remembers_it(browser, tmp_path):
    from selenium.webdriver.common.by import By

    pipe = BlueprintPipeline(build_components("tiny", seed=0))
    with LiveServer(create_app(pipe, compile=False, warmup=False)) as server:
        wait = open_page(browser, server, 'A red poster that reads "OPEN"', 2)
        browser.find_element(By.ID, "go").click()
        wait.until(lambda d: d.find_element(By.ID, "stage").text == "done" or d.find_element(By.ID, "error").text)
        assert browser.find_element(By.ID, "error").text == ""
        loaded = "return arguments[0].complete && arguments[0].naturalWidth"
        assert browser.execute_script(loaded, browser.find_element(By.ID, "result")) == 256
        assert "partial" not in browser.find_element(By.ID, "result").get_attribute("class")  # the finished image
        assert browser.execute_script(loaded, browser.find_element(By.ID, "blueprint")) == 256
        seed = browser.find_element(By.ID, "seed").get_attribute("value")
        assert seed.isdigit() and f"seed {seed}" in browser.find_element(By.ID, "caption").text
        assert browser.find_element(By.ID, "download").get_attribute("href").startswith("data:image/png")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#history li")) == 1
        browser.save_screenshot(str(tmp_path / "page.png"))
        browser.refresh()  # the history is this browser's, kept across visits
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history li")) == 1)
    assert (tmp_path / "page.png").stat().st_size > 1000


def test_the_page_plans_the_layout_and_follows_an_edited_plan(browser, planned_folder):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    finished = 'return document.getElementById("stage").textContent === "done" || ' \
               '!document.getElementById("error").hidden'
    with LiveServer(create_app(pipe, compile=False, warmup=False)) as server:
        wait = open_page(browser, server, 'A sign that reads "OPEN"', 1)
        browser.find_element(By.ID, "use-plan").click()
        browser.find_element(By.ID, "go").click()
        wait.until(lambda d: d.execute_script(finished))
        assert browser.find_element(By.ID, "error").text == ""
        plan = browser.find_element(By.ID, "plan")
        assert plan.is_displayed() and plan.get_attribute("value").splitlines()[0].split()[0]  # the planner's plan
        seed = browser.find_element(By.ID, "seed").get_attribute("value")

        edited = "sign green\npanel board yellow 8 8 56 56\ntext name black bold q0 all 12 24 52 40"
        plan.clear()
        plan.send_keys(edited)
        browser.find_element(By.ID, "replan").click()
        wait.until(lambda d: d.find_element(By.ID, "stage").text != "done")
        wait.until(lambda d: d.execute_script(finished))
        assert browser.find_element(By.ID, "error").text == ""
        assert browser.find_element(By.ID, "plan").get_attribute("value") == edited  # followed and returned
        assert browser.find_element(By.ID, "seed").get_attribute("value") == seed  # only the plan changed

        plan = browser.find_element(By.ID, "plan")
        plan.clear()
        plan.send_keys("sign green\ntext name black bold q1 all 12 24 52 40")
        browser.find_element(By.ID, "replan").click()
        wait.until(ec.visibility_of_element_located((By.ID, "error")))
        assert "'q1' is not a quote" in browser.find_element(By.ID, "error").text
